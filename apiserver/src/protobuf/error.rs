//! Why a body could not be decoded or an object encoded.

/// Why a body could not be decoded or an object encoded; messages follow upstream's.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body is empty.
    #[error("empty data")]
    EmptyData,
    /// The body does not start with `k8s\0`.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NotProtobuf,
    /// The body is only the magic prefix.
    #[error("empty body")]
    EmptyBody,
    /// A field or length runs past the end of its message.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A varint is longer than 64 bits.
    #[error("proto: integer overflow")]
    IntOverflow,
    /// A length prefix is out of range.
    #[error("proto: negative length found during unmarshaling")]
    InvalidLength,
    /// Malformed wire data (illegal tag, wrong wire type for a known field, ...).
    #[error("{0}")]
    Malformed(String),
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in '{0}'")]
    MissingKind(String),
    /// The envelope names no apiVersion.
    #[error("Object 'apiVersion' is missing in '{0}'")]
    MissingVersion(String),
    /// The envelope's kind is not a built-in kind of that version.
    #[error(
        "no kind {kind:?} is registered for version {version:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    )]
    NotRegistered {
        /// The kind named by the body or object.
        kind: String,
        /// Its apiVersion.
        version: String,
    },
    /// A value that Go's JSON or custom (un)marshalling rejects (bad quantity, time, raw JSON).
    #[error("{0}")]
    Json(String),
    /// Nesting deeper than the codec follows.
    #[error("proto: message nesting exceeds {0} levels")]
    TooDeep(usize),
    /// The embedded schema is corrupt (a build defect, not a client error).
    #[error("embedded protobuf schema is invalid: {0}")]
    Schema(String),
}
