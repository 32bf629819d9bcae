//! Object identifiers used by the reader and writer, and readable names for errors.

use der::oid::ObjectIdentifier;

pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");

pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub const RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
pub const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
pub const P_SPECIFIED: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.9");

pub const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
pub const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
pub const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// A short name for an OID we may meet, for error messages; "unknown" otherwise.
pub fn name(oid: &ObjectIdentifier) -> &'static str {
    const NAMES: &[(&str, &str)] = &[
        ("1.2.840.113549.1.7.1", "id-data"),
        ("1.2.840.113549.1.7.2", "id-signedData"),
        ("1.2.840.113549.1.7.3", "id-envelopedData"),
        ("1.2.840.113549.1.7.5", "id-digestedData"),
        ("1.2.840.113549.1.7.6", "id-encryptedData"),
        ("1.2.840.113549.1.9.16.1.2", "id-ct-authData"),
        ("1.2.840.113549.1.9.16.1.9", "id-ct-compressedData"),
        ("1.2.840.113549.1.9.16.1.23", "id-ct-authEnvelopedData"),
        ("1.2.840.113549.1.1.1", "rsaEncryption"),
        ("1.2.840.113549.1.1.7", "id-RSAES-OAEP"),
        ("1.2.840.113549.1.1.8", "id-mgf1"),
        ("1.2.840.113549.1.1.9", "id-pSpecified"),
        ("1.3.14.3.2.26", "SHA-1"),
        ("2.16.840.1.101.3.4.2.1", "SHA-256"),
        ("2.16.840.1.101.3.4.2.2", "SHA-384"),
        ("2.16.840.1.101.3.4.2.3", "SHA-512"),
        ("2.16.840.1.101.3.4.2.4", "SHA-224"),
        ("1.2.840.113549.2.5", "MD5"),
        ("2.16.840.1.101.3.4.1.2", "aes128-CBC"),
        ("2.16.840.1.101.3.4.1.22", "aes192-CBC"),
        ("2.16.840.1.101.3.4.1.42", "aes256-CBC"),
        ("2.16.840.1.101.3.4.1.6", "aes128-GCM"),
        ("2.16.840.1.101.3.4.1.46", "aes256-GCM"),
        ("2.16.840.1.101.3.4.1.5", "aes128-wrap"),
        ("2.16.840.1.101.3.4.1.45", "aes256-wrap"),
        ("1.2.840.113549.3.7", "des-ede3-cbc"),
        ("1.2.840.113549.3.2", "rc2-cbc"),
        ("1.3.14.3.2.7", "des-cbc"),
        ("1.2.840.10045.2.1", "id-ecPublicKey"),
        ("1.3.101.112", "Ed25519"),
    ];
    let dotted = oid.to_string();
    NAMES
        .iter()
        .find(|(known, _)| *known == dotted)
        .map_or("unknown", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_oids() {
        assert_eq!(name(&ID_ENVELOPED_DATA), "id-envelopedData");
        assert_eq!(name(&AES256_CBC), "aes256-CBC");
        assert_eq!(name(&ObjectIdentifier::new_unwrap("1.2.3.4")), "unknown");
    }
}
