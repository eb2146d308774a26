//! SPDY/3.1 frames and their wire encoding, including zlib-compressed header blocks.
//!
//! One [`FrameCodec`] serves one connection: SPDY keeps a single compression context per
//! direction for the whole session, so header blocks must be (de)compressed in frame order.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio_util::codec::{Decoder, Encoder};

use super::dictionary::dictionary;

/// The protocol version carried in every control frame.
pub const VERSION: u16 = 3;
/// Largest frame payload the 24-bit length field allows.
pub const MAX_FRAME_LEN: usize = 0x00ff_ffff;
/// Largest decompressed header block accepted (guards against compression bombs).
const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Control frame type numbers.
mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const SETTINGS: u16 = 4;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
    pub const HEADERS: u16 = 8;
    pub const WINDOW_UPDATE: u16 = 9;
}

/// FLAG_FIN on SYN_STREAM, SYN_REPLY, HEADERS and DATA.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// FLAG_SETTINGS_CLEAR_SETTINGS on SETTINGS.
pub const FLAG_CLEAR_SETTINGS: u8 = 0x01;

/// RST_STREAM status codes (SPDY/3.1 section 2.6.3).
#[allow(missing_docs)]
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const UNSUPPORTED_VERSION: u32 = 4;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
    pub const FRAME_TOO_LARGE: u32 = 11;
}

/// GOAWAY status codes.
#[allow(missing_docs)]
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INTERNAL_ERROR: u32 = 2;
}

/// SETTINGS ids.
pub mod settings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u32 = 4;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u32 = 7;
}

/// A decoded header block: lower-case names, one entry per value (NUL-separated values split).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// First value of a header (names are matched case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds a value.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// FLAG_SETTINGS_PERSIST_VALUE / PERSISTED.
    pub flags: u8,
    /// Setting id (24 bits).
    pub id: u32,
    /// Value.
    pub value: u32,
}

/// A SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream.
    SynStream {
        /// Stream id (odd when the client opens it).
        stream_id: u32,
        /// Associated stream for server push (0 if none).
        associated_to: u32,
        /// Priority 0 (highest) to 7.
        priority: u8,
        /// Credential slot (SPDY/3 only, always 0 here).
        slot: u8,
        /// FLAG_FIN / FLAG_UNIDIRECTIONAL.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// Accepts a stream.
    SynReply {
        /// Stream id.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// Aborts a stream.
    RstStream {
        /// Stream id.
        stream_id: u32,
        /// Status code (see [`rst`]).
        status: u32,
    },
    /// Session settings.
    Settings {
        /// FLAG_CLEAR_SETTINGS.
        flags: u8,
        /// Entries.
        entries: Vec<Setting>,
    },
    /// Round-trip probe; the receiver echoes pings whose id parity is the sender's.
    Ping {
        /// Ping id.
        id: u32,
    },
    /// Ends the session.
    GoAway {
        /// Last stream id the sender processed.
        last_good_stream_id: u32,
        /// Status code (see [`goaway`]).
        status: u32,
    },
    /// Extra headers for a stream.
    Headers {
        /// Stream id.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// Flow-control credit; stream 0 is the session window (SPDY/3.1).
    WindowUpdate {
        /// Stream id, 0 for the session.
        stream_id: u32,
        /// Credit in bytes (31 bits).
        delta: u32,
    },
    /// Stream payload.
    Data {
        /// Stream id.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Payload.
        data: Bytes,
    },
    /// A control frame of a type this implementation does not know; the spec says to ignore it.
    Unknown {
        /// Control frame type.
        kind: u16,
    },
}

/// Framing errors; all of them end the session (GOAWAY PROTOCOL_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The transport failed.
    #[error("spdy transport: {0}")]
    Io(#[from] std::io::Error),
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame shorter than its fixed fields.
    #[error("SPDY frame type {kind} too short ({len} bytes)")]
    Short {
        /// Control frame type.
        kind: u16,
        /// Payload length.
        len: usize,
    },
    /// A header block that does not decompress or parse.
    #[error("invalid SPDY header block: {0}")]
    HeaderBlock(String),
    /// A frame too large to encode.
    #[error("SPDY frame of {0} bytes exceeds the 24-bit length field")]
    TooLarge(usize),
}

/// Encoder/decoder for one SPDY session.
pub struct FrameCodec {
    deflate: Compress,
    inflate: Decompress,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with fresh compression contexts.
    pub fn new() -> Self {
        let mut deflate = Compress::new(Compression::best(), true);
        // Both are only fallible on a broken zlib; the dictionary is valid.
        let _ = deflate.set_dictionary(dictionary());
        Self {
            deflate,
            inflate: Decompress::new(true),
        }
    }

    fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, FrameError> {
        let mut raw = Vec::new();
        put_len(&mut raw, headers.0.len())?;
        for (name, value) in &headers.0 {
            let name = name.to_ascii_lowercase();
            put_len(&mut raw, name.len())?;
            raw.extend_from_slice(name.as_bytes());
            put_len(&mut raw, value.len())?;
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0;
        loop {
            out.reserve(256);
            let before_in = self.deflate.total_in();
            self.deflate
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| FrameError::HeaderBlock(e.to_string()))?;
            consumed += usize::try_from(self.deflate.total_in() - before_in).unwrap_or(0);
            // A sync flush is complete once all input is taken and spare output remains.
            if consumed >= raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    fn decompress(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let bad = |m: &str| FrameError::HeaderBlock(m.to_string());
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            out.reserve(1024);
            let before_in = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => return Err(bad("zlib stream ended")),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(dictionary())
                        .map_err(|e| FrameError::HeaderBlock(e.to_string()))?;
                }
                Err(e) => return Err(FrameError::HeaderBlock(e.to_string())),
            }
            consumed += usize::try_from(self.inflate.total_in() - before_in).unwrap_or(0);
            if out.len() > MAX_HEADER_BLOCK {
                return Err(bad("header block too large"));
            }
            if consumed >= block.len() && out.len() < out.capacity() {
                break;
            }
        }
        parse_header_block(&out)
    }

    /// Encodes a frame (used by the [`Encoder`] impl and by tests).
    pub fn encode_frame(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                check_len(data.len())?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u32((u32::from(*flags) << 24) | data.len() as u32);
                dst.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                slot,
                flags,
                headers,
            } => {
                let block = self.compress(headers)?;
                let mut body = BytesMut::with_capacity(10 + block.len());
                body.put_u32(stream_id & 0x7fff_ffff);
                body.put_u32(associated_to & 0x7fff_ffff);
                body.put_u8((priority & 0x7) << 5);
                body.put_u8(*slot);
                body.extend_from_slice(&block);
                control(dst, kind::SYN_STREAM, *flags, &body)?;
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                let block = self.compress(headers)?;
                let mut body = BytesMut::with_capacity(4 + block.len());
                body.put_u32(stream_id & 0x7fff_ffff);
                body.extend_from_slice(&block);
                control(dst, kind::SYN_REPLY, *flags, &body)?;
            }
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let block = self.compress(headers)?;
                let mut body = BytesMut::with_capacity(4 + block.len());
                body.put_u32(stream_id & 0x7fff_ffff);
                body.extend_from_slice(&block);
                control(dst, kind::HEADERS, *flags, &body)?;
            }
            Frame::RstStream { stream_id, status } => {
                let mut body = [0u8; 8];
                body[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                body[4..].copy_from_slice(&status.to_be_bytes());
                control(dst, kind::RST_STREAM, 0, &body)?;
            }
            Frame::Settings { flags, entries } => {
                let mut body = BytesMut::with_capacity(4 + entries.len() * 8);
                body.put_u32(entries.len() as u32);
                for e in entries {
                    body.put_u32((u32::from(e.flags) << 24) | (e.id & 0x00ff_ffff));
                    body.put_u32(e.value);
                }
                control(dst, kind::SETTINGS, *flags, &body)?;
            }
            Frame::Ping { id } => control(dst, kind::PING, 0, &id.to_be_bytes())?,
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut body = [0u8; 8];
                body[..4].copy_from_slice(&(last_good_stream_id & 0x7fff_ffff).to_be_bytes());
                body[4..].copy_from_slice(&status.to_be_bytes());
                control(dst, kind::GOAWAY, 0, &body)?;
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut body = [0u8; 8];
                body[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                body[4..].copy_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(dst, kind::WINDOW_UPDATE, 0, &body)?;
            }
            Frame::Unknown { kind } => control(dst, *kind, 0, &[])?,
        }
        Ok(())
    }

    fn decode_control(
        &mut self,
        kind: u16,
        flags: u8,
        mut body: Bytes,
    ) -> Result<Frame, FrameError> {
        let short = |min: usize, body: &Bytes| {
            if body.len() < min {
                Err(FrameError::Short {
                    kind,
                    len: body.len(),
                })
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            kind::SYN_STREAM => {
                short(10, &body)?;
                let stream_id = body.get_u32() & 0x7fff_ffff;
                let associated_to = body.get_u32() & 0x7fff_ffff;
                let priority = body.get_u8() >> 5;
                let slot = body.get_u8();
                let headers = self.decompress(&body)?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    slot,
                    flags,
                    headers,
                }
            }
            kind::SYN_REPLY | kind::HEADERS => {
                short(4, &body)?;
                let stream_id = body.get_u32() & 0x7fff_ffff;
                let headers = self.decompress(&body)?;
                if kind == kind::SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            kind::RST_STREAM => {
                short(8, &body)?;
                Frame::RstStream {
                    stream_id: body.get_u32() & 0x7fff_ffff,
                    status: body.get_u32(),
                }
            }
            kind::SETTINGS => {
                short(4, &body)?;
                let count = body.get_u32() as usize;
                short(count.saturating_mul(8), &body)?;
                let entries = (0..count)
                    .map(|_| {
                        let head = body.get_u32();
                        Setting {
                            flags: (head >> 24) as u8,
                            id: head & 0x00ff_ffff,
                            value: body.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            kind::PING => {
                short(4, &body)?;
                Frame::Ping { id: body.get_u32() }
            }
            kind::GOAWAY => {
                short(4, &body)?;
                let last_good_stream_id = body.get_u32() & 0x7fff_ffff;
                // SPDY/2 peers omit the status; treat a missing one as OK.
                let status = if body.len() >= 4 { body.get_u32() } else { 0 };
                Frame::GoAway {
                    last_good_stream_id,
                    status,
                }
            }
            kind::WINDOW_UPDATE => {
                short(8, &body)?;
                Frame::WindowUpdate {
                    stream_id: body.get_u32() & 0x7fff_ffff,
                    delta: body.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown { kind: other },
        })
    }
}

fn check_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME_LEN {
        Err(FrameError::TooLarge(len))
    } else {
        Ok(())
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), FrameError> {
    let len = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn control(dst: &mut BytesMut, kind: u16, flags: u8, body: &[u8]) -> Result<(), FrameError> {
    check_len(body.len())?;
    dst.reserve(8 + body.len());
    dst.put_u16(0x8000 | VERSION);
    dst.put_u16(kind);
    dst.put_u32((u32::from(flags) << 24) | body.len() as u32);
    dst.extend_from_slice(body);
    Ok(())
}

fn parse_header_block(mut raw: &[u8]) -> Result<Headers, FrameError> {
    let bad = |m: &str| FrameError::HeaderBlock(m.to_string());
    let take = |raw: &mut &[u8]| -> Result<Vec<u8>, FrameError> {
        if raw.len() < 4 {
            return Err(bad("truncated length"));
        }
        let len = raw.get_u32() as usize;
        if raw.len() < len {
            return Err(bad("truncated string"));
        }
        let (s, rest) = raw.split_at(len);
        let s = s.to_vec();
        *raw = rest;
        Ok(s)
    };
    if raw.len() < 4 {
        return Err(bad("missing pair count"));
    }
    let count = raw.get_u32();
    let mut headers = Headers::default();
    for _ in 0..count {
        let name = String::from_utf8(take(&mut raw)?).map_err(|_| bad("name is not UTF-8"))?;
        if name.is_empty() {
            return Err(bad("empty header name"));
        }
        let value = String::from_utf8(take(&mut raw)?).map_err(|_| bad("value is not UTF-8"))?;
        for v in value.split('\0') {
            headers.0.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    Ok(headers)
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 8 {
            return Ok(None);
        }
        let len = (u32::from_be_bytes([0, src[5], src[6], src[7]])) as usize;
        if src.len() < 8 + len {
            src.reserve(8 + len - src.len());
            return Ok(None);
        }
        let head = src.split_to(8);
        let body = src.split_to(len).freeze();
        let flags = head[4];
        if head[0] & 0x80 != 0 {
            let version = u16::from_be_bytes([head[0], head[1]]) & 0x7fff;
            if version != VERSION {
                return Err(FrameError::Version(version));
            }
            let kind = u16::from_be_bytes([head[2], head[3]]);
            self.decode_control(kind, flags, body).map(Some)
        } else {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: body,
            }))
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_frame(&frame, dst)
    }
}

#[cfg(test)]
mod tests;
