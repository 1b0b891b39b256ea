//! The one place that says how records and snapshots become bytes: bincode 2
//! over serde, fixed-width little-endian integers, and a size limit, so a
//! corrupt length on disk can never make the decoder allocate without bound.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest encoded record or snapshot section the decoder accepts.
pub const MAX_ENCODED_BYTES: usize = 1024 * 1024 * 1024;

type Config = Configuration<LittleEndian, Fixint, Limit<MAX_ENCODED_BYTES>>;

const CONFIG: Config = bincode::config::standard().with_little_endian().with_fixed_int_encoding().with_limit();

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("cannot decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("{0} bytes left over after the value")]
    TrailingBytes(usize),
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(value, CONFIG)?)
}

/// Appends the encoding of `value` to `buffer`.
pub fn encode_into<T: Serialize>(value: &T, buffer: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, buffer, CONFIG)?;
    Ok(())
}

/// Decodes exactly one value that fills all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, CONFIG)?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}
