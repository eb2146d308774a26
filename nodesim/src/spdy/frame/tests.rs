//! Byte-level checks of the frame layouts in SPDY/3.1 section 2.

use super::*;

fn encode(frame: Frame) -> Vec<u8> {
    let mut codec = FrameCodec::new();
    let mut out = BytesMut::new();
    codec.encode(frame, &mut out).unwrap();
    out.to_vec()
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(f) = codec.decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty(), "trailing bytes");
    frames
}

#[test]
fn ping_layout() {
    let bytes = encode(Frame::Ping { id: 0x0102_0304 });
    // control bit + version 3, type 6, flags 0, length 4, id
    assert_eq!(bytes, [0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 1, 2, 3, 4]);
    assert_eq!(decode_all(&bytes), vec![Frame::Ping { id: 0x0102_0304 }]);
}

#[test]
fn rst_stream_layout() {
    let bytes = encode(Frame::RstStream {
        stream_id: 5,
        status: rst::CANCEL,
    });
    assert_eq!(bytes, [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5]);
}

#[test]
fn goaway_layout() {
    let bytes = encode(Frame::GoAway {
        last_good_stream_id: 7,
        status: goaway::PROTOCOL_ERROR,
    });
    assert_eq!(bytes, [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 1]);
}

#[test]
fn window_update_layout_masks_reserved_bit() {
    let bytes = encode(Frame::WindowUpdate {
        stream_id: 0,
        delta: 0xffff_ffff,
    });
    assert_eq!(
        bytes,
        [
            0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff
        ]
    );
}

#[test]
fn settings_layout() {
    let bytes = encode(Frame::Settings {
        flags: FLAG_CLEAR_SETTINGS,
        entries: vec![Setting {
            flags: 1,
            id: settings::INITIAL_WINDOW_SIZE,
            value: 0x0001_0000,
        }],
    });
    assert_eq!(
        bytes,
        [
            0x80, 3, 0, 4, 1, 0, 0, 12, // header, flags CLEAR, length 12
            0, 0, 0, 1, // one entry
            1, 0, 0, 7, // flags PERSIST_VALUE, id 7
            0, 1, 0, 0, // 65536
        ]
    );
    assert_eq!(decode_all(&bytes).len(), 1);
}

#[test]
fn data_layout() {
    let bytes = encode(Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"abc"),
    });
    assert_eq!(bytes, [0, 0, 0, 3, 1, 0, 0, 3, b'a', b'b', b'c']);
}

fn decompress_raw(block: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(true);
    let mut out = Vec::with_capacity(4096);
    let err = d
        .decompress_vec(block, &mut out, FlushDecompress::Sync)
        .unwrap_err();
    assert_eq!(err.needs_dictionary(), Some(0xe3c6_a7c2));
    d.set_dictionary(dictionary()).unwrap();
    let used = d.total_in() as usize;
    d.decompress_vec(&block[used..], &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

#[test]
fn syn_stream_layout_and_header_block() {
    let mut headers = Headers::default();
    headers.push("streamType", "error");
    headers.push("Port", "80");
    let bytes = encode(Frame::SynStream {
        stream_id: 1,
        associated_to: 0,
        priority: 2,
        slot: 0,
        flags: FLAG_FIN,
        headers: headers.clone(),
    });
    assert_eq!(&bytes[..5], [0x80, 3, 0, 1, FLAG_FIN]);
    let len = u32::from_be_bytes([0, bytes[5], bytes[6], bytes[7]]) as usize;
    assert_eq!(bytes.len(), 8 + len);
    assert_eq!(&bytes[8..18], [0, 0, 0, 1, 0, 0, 0, 0, 2 << 5, 0]);
    let block = &bytes[18..];
    // zlib header: deflate/32K window, best compression, FDICT set, then the dictionary id.
    assert_eq!(&block[..6], [0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
    let raw = decompress_raw(block);
    let mut expected = vec![0, 0, 0, 2];
    for (n, v) in [("streamtype", "error"), ("port", "80")] {
        expected.extend_from_slice(&(n.len() as u32).to_be_bytes());
        expected.extend_from_slice(n.as_bytes());
        expected.extend_from_slice(&(v.len() as u32).to_be_bytes());
        expected.extend_from_slice(v.as_bytes());
    }
    assert_eq!(raw, expected);
    match &decode_all(&bytes)[0] {
        Frame::SynStream {
            stream_id: 1,
            headers: h,
            priority: 2,
            flags: FLAG_FIN,
            ..
        } => {
            assert_eq!(h.get("streamtype"), Some("error"));
            assert_eq!(h.get("port"), Some("80"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn header_contexts_persist_across_frames() {
    let mut enc = FrameCodec::new();
    let mut wire = BytesMut::new();
    for id in [1u32, 3, 5] {
        let mut h = Headers::default();
        h.push("streamtype", "data");
        h.push("requestid", &id.to_string());
        enc.encode(
            Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: 0,
                headers: h,
            },
            &mut wire,
        )
        .unwrap();
        enc.encode(
            Frame::SynReply {
                stream_id: id,
                flags: 0,
                headers: Headers::default(),
            },
            &mut wire,
        )
        .unwrap();
    }
    let frames = decode_all(&wire);
    assert_eq!(frames.len(), 6);
    match &frames[4] {
        Frame::SynStream { headers, .. } => assert_eq!(headers.get("requestid"), Some("5")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn nul_separated_values_are_split() {
    let raw = {
        let mut v = vec![0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 3, b'x', 0, b'y'];
        v.shrink_to_fit();
        v
    };
    let h = parse_header_block(&raw).unwrap();
    assert_eq!(
        h.0,
        vec![("a".into(), "x".into()), ("a".into(), "y".into())]
    );
}

#[test]
fn wrong_version_and_truncation_are_errors() {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(&[0x80u8, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::Version(2))
    ));
    let mut buf = BytesMut::from(&[0x80u8, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::Short { .. })
    ));
    // A partial frame waits for more bytes.
    let mut buf = BytesMut::from(&[0x80u8, 3, 0, 6, 0, 0, 0][..]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
}

#[test]
fn unknown_control_frames_are_surfaced_for_ignoring() {
    let frames = decode_all(&[0x80, 3, 0, 10, 0, 0, 0, 2, 0, 0]);
    assert_eq!(frames, vec![Frame::Unknown { kind: 10 }]);
}
