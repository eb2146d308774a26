//! Protobuf wire format: reading fields (with the checks and errors of gogo-generated code)
//! and writing them.

use super::error::ProtoError;

/// A wire value of one field occurrence.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

impl Wire<'_> {
    /// The wire type number, as errors print it.
    pub fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Bytes(_) => 2,
            Wire::Fixed32 => 5,
        }
    }
}

/// Reads a base-128 varint at `*pos`.
pub(crate) fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        if shift >= 64 {
            return Err(ProtoError::IntOverflow);
        }
        let b = *data.get(*pos).ok_or(ProtoError::UnexpectedEof)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
        shift += 7;
    }
}

fn take<'a>(data: &'a [u8], pos: &mut usize, len: u64) -> Result<&'a [u8], ProtoError> {
    let len = usize::try_from(len).map_err(|_| ProtoError::InvalidLength)?;
    if len > isize::MAX as usize {
        return Err(ProtoError::InvalidLength);
    }
    let end = pos.checked_add(len).ok_or(ProtoError::InvalidLength)?;
    let slice = data.get(*pos..end).ok_or(ProtoError::UnexpectedEof)?;
    *pos = end;
    Ok(slice)
}

/// Splits a message into `(field number, value)` occurrences in wire order. Groups (wire types
/// 3 and 4), which no Kubernetes message uses, are skipped as gogo's `skipGenerated` does.
pub(crate) fn fields<'a>(
    data: &'a [u8],
    message: &str,
) -> Result<Vec<(u32, Wire<'a>)>, ProtoError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = read_varint(data, &mut pos)?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if wire_type == 4 {
            return Err(ProtoError::Malformed(format!(
                "proto: {message}: wiretype end group for non-group"
            )));
        }
        if number == 0 || number > i32::MAX as u64 {
            return Err(ProtoError::Malformed(format!(
                "proto: {message}: illegal tag {} (wire type {wire_type})",
                number as i32
            )));
        }
        let value = match wire_type {
            0 => Wire::Varint(read_varint(data, &mut pos)?),
            1 => {
                let b = take(data, &mut pos, 8)?;
                Wire::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| ProtoError::UnexpectedEof)?,
                ))
            }
            2 => {
                let len = read_varint(data, &mut pos)?;
                if len > i64::MAX as u64 {
                    return Err(ProtoError::InvalidLength);
                }
                Wire::Bytes(take(data, &mut pos, len)?)
            }
            3 => {
                skip_group(data, &mut pos, number)?;
                continue;
            }
            5 => {
                take(data, &mut pos, 4)?;
                Wire::Fixed32
            }
            other => {
                return Err(ProtoError::Malformed(format!(
                    "proto: illegal wireType {other}"
                )));
            }
        };
        out.push((number as u32, value));
    }
    Ok(out)
}

fn skip_group(data: &[u8], pos: &mut usize, number: u64) -> Result<(), ProtoError> {
    let mut depth = 1;
    while depth > 0 {
        let key = read_varint(data, pos)?;
        match key & 7 {
            0 => {
                read_varint(data, pos)?;
            }
            1 => {
                take(data, pos, 8)?;
            }
            2 => {
                let len = read_varint(data, pos)?;
                take(data, pos, len)?;
            }
            3 => depth += 1,
            4 => {
                depth -= 1;
                if depth == 0 && key >> 3 != number {
                    return Err(ProtoError::Malformed(
                        "proto: unexpected end of group".into(),
                    ));
                }
            }
            5 => {
                take(data, pos, 4)?;
            }
            other => {
                return Err(ProtoError::Malformed(format!(
                    "proto: illegal wireType {other}"
                )));
            }
        }
    }
    Ok(())
}

/// Appends protobuf fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, number: u32, wire_type: u8) {
        self.varint((u64::from(number) << 3) | u64::from(wire_type));
    }

    /// A varint field (bools and integers; negative int32 values sign-extend to 10 bytes).
    pub fn varint_field(&mut self, number: u32, v: u64) {
        self.key(number, 0);
        self.varint(v);
    }

    /// A fixed64 field (doubles).
    pub fn fixed64_field(&mut self, number: u32, v: u64) {
        self.key(number, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A length-delimited field (strings, bytes, messages).
    pub fn bytes_field(&mut self, number: u32, v: &[u8]) {
        self.key(number, 2);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
}
