//! PEM blocks and private keys as the issuer reads them: PKCS#8, and PKCS#1 RSA keys (as
//! upstream VirtualCluster wrote them) wrapped into PKCS#8 so that ring can sign with them.

use rcgen::KeyPair;

use super::error::{PkiError, invalid};

/// The first PEM block of `text`: its label and decoded bytes. `what` names the input in errors.
pub fn pem_block(text: &str, what: &str) -> Result<(String, Vec<u8>), PkiError> {
    use base64::Engine;
    let mut label = None;
    let mut body = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
            continue;
        }
        if line.starts_with("-----END ") {
            break;
        }
        if label.is_some() {
            body.push_str(line);
        }
    }
    let label = label.ok_or_else(|| invalid(what, "no PEM block found"))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| invalid(what, &format!("bad base64 in PEM: {e}")))?;
    Ok((label, der))
}

/// Reads a PEM private key (PKCS#8, or PKCS#1 RSA).
pub(crate) fn load_key(key_pem: &str) -> Result<KeyPair, PkiError> {
    let block = pem_block(key_pem, "private key")?;
    let der = match block.0.as_str() {
        "PRIVATE KEY" => block.1,
        "RSA PRIVATE KEY" => pkcs1_to_pkcs8(&block.1),
        other => {
            return Err(invalid(
                "private key",
                &format!("PEM block {other:?} is not supported; use PKCS#8 (\"PRIVATE KEY\")"),
            ));
        }
    };
    KeyPair::try_from(der.as_slice()).map_err(|e| invalid("private key", &e.to_string()))
}

/// The DER of the first certificate in a PEM text.
pub(crate) fn cert_der(pem_text: &str) -> Result<Vec<u8>, PkiError> {
    let (label, der) = pem_block(pem_text, "certificate")?;
    if label != "CERTIFICATE" {
        return Err(invalid(
            "certificate",
            &format!("expected a CERTIFICATE PEM block, found {label:?}"),
        ));
    }
    Ok(der)
}

/// Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo (RFC 5208).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut content = vec![0x02, 0x01, 0x00];
    content.extend_from_slice(&RSA_ALGORITHM);
    content.extend(der_tlv(0x04, pkcs1));
    der_tlv(0x30, &content)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = vec![0u8; 300];
        let tlv = der_tlv(0x04, &long);
        assert_eq!(&tlv[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(tlv.len(), 304);
    }

    #[test]
    fn unsupported_key_block_is_explained() {
        let err = load_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err}");
        assert!(load_key("garbage").is_err());
        assert!(
            cert_der("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err()
        );
    }
}
