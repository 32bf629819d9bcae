//! The manifest of an ASiC-E container with a CAdES signature, as Fiks IO messages carry it
//! (`META-INF/asicmanifest.xml`, written by difi's commons-asic; ETSI TS 102 918): for each
//! data file its name, MIME type and SHA-256, so a receiver checks every file against it.
//!
//! The XML is from the sender, so from outside: read with bounded size, by local names (the
//! namespace prefixes differ between writers), no DTD (a `<!DOCTYPE` is refused, so no entity
//! can be declared, let alone expanded), every data file named once, only SHA-256.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// The manifest's own name inside the container.
pub const MANIFEST_PATH: &str = "META-INF/asicmanifest.xml";
/// A manifest larger than this is not one (a thousand files are about 300 KiB).
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// The names SHA-256 goes by in `DigestMethod/@Algorithm` (xmlenc's, and xmldsig-more's that
/// commons-asic has written).
const SHA256_ALGORITHMS: [&str; 2] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2000/09/xmldsig#sha256",
];

/// One data file the manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObject {
    /// Its name in the container (`URI`).
    pub uri: String,
    pub mime_type: Option<String>,
    pub sha256: [u8; 32],
}

/// The data files of a container, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub files: BTreeMap<String, DataObject>,
}

/// Why a manifest cannot be used; every one means the container is not what it claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("the manifest is {0} bytes, more than the {MAX_MANIFEST_BYTES} a manifest can be")]
    TooLarge(usize),
    #[error("the manifest is not UTF-8")]
    NotUtf8,
    #[error("the manifest is not well-formed XML: {0}")]
    Xml(String),
    #[error("the manifest has a DOCTYPE (refused: no DTDs or entities from a sender)")]
    DocType,
    #[error("the manifest's root is <{0}>, not <ASiCManifest>")]
    NotAManifest(String),
    #[error("a DataObjectReference has no URI")]
    NoUri,
    #[error("{0} is listed twice")]
    Duplicate(String),
    #[error("{uri}: digest algorithm {algorithm} (only SHA-256 is accepted)")]
    Algorithm { uri: String, algorithm: String },
    #[error("{0}: no DigestValue, or not the 32 bytes of a SHA-256 in base64")]
    Digest(String),
}

impl Manifest {
    /// Reads `META-INF/asicmanifest.xml`.
    pub fn parse(xml: &[u8]) -> Result<Manifest, ManifestError> {
        if xml.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(xml.len()));
        }
        let text = std::str::from_utf8(xml).map_err(|_| ManifestError::NotUtf8)?;
        let mut reader = Reader::from_str(text);
        let mut manifest = Manifest::default();
        let mut seen_root = false;
        let mut root_closed = false;
        // The DataObjectReference being read: its URI, type, algorithm and digest text.
        let mut current: Option<Partial> = None;
        let mut in_digest_value = false;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| ManifestError::Xml(e.to_string()))?;
            match event {
                Event::DocType(_) => return Err(ManifestError::DocType),
                Event::Start(e) | Event::Empty(e) if !seen_root => {
                    let name = local(&e);
                    if name != "ASiCManifest" {
                        return Err(ManifestError::NotAManifest(name));
                    }
                    seen_root = true;
                }
                Event::Start(e) => match local(&e).as_str() {
                    "DataObjectReference" => current = Some(Partial::from(&e)?),
                    "DigestMethod" => set_algorithm(&mut current, &e)?,
                    "DigestValue" => in_digest_value = current.is_some(),
                    _ => {}
                },
                Event::Empty(e) => match local(&e).as_str() {
                    "DataObjectReference" => {
                        let p = Partial::from(&e)?;
                        return Err(ManifestError::Digest(p.uri));
                    }
                    "DigestMethod" => set_algorithm(&mut current, &e)?,
                    _ => {}
                },
                Event::Text(t) if in_digest_value => {
                    if let Some(p) = current.as_mut() {
                        p.digest.push_str(&t.into_inner());
                    }
                }
                Event::GeneralRef(_) if in_digest_value => {
                    let uri = current.map(|p| p.uri).unwrap_or_default();
                    return Err(ManifestError::Digest(uri));
                }
                Event::End(e) => match e.local_name().as_ref() {
                    "DigestValue" => in_digest_value = false,
                    "ASiCManifest" => root_closed = true,
                    "DataObjectReference" => {
                        if let Some(p) = current.take() {
                            let object = p.finish()?;
                            if manifest.files.contains_key(&object.uri) {
                                return Err(ManifestError::Duplicate(object.uri));
                            }
                            manifest.files.insert(object.uri.clone(), object);
                        }
                    }
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        if !seen_root {
            return Err(ManifestError::NotAManifest(String::new()));
        }
        if !root_closed || current.is_some() {
            return Err(ManifestError::Xml("it ends before </ASiCManifest>".into()));
        }
        Ok(manifest)
    }
}

/// A DataObjectReference as far as it has been read.
struct Partial {
    uri: String,
    mime_type: Option<String>,
    algorithm: Option<String>,
    digest: String,
}

impl Partial {
    fn from(e: &BytesStart<'_>) -> Result<Partial, ManifestError> {
        let uri = attribute(e, "URI")?.ok_or(ManifestError::NoUri)?;
        if uri.is_empty() {
            return Err(ManifestError::NoUri);
        }
        Ok(Partial {
            uri,
            mime_type: attribute(e, "MimeType")?,
            algorithm: None,
            digest: String::new(),
        })
    }

    fn finish(self) -> Result<DataObject, ManifestError> {
        let algorithm = self.algorithm.unwrap_or_default();
        if !SHA256_ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(ManifestError::Algorithm {
                uri: self.uri,
                algorithm,
            });
        }
        let bytes = STANDARD
            .decode(self.digest.trim())
            .map_err(|_| ManifestError::Digest(self.uri.clone()))?;
        let sha256: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ManifestError::Digest(self.uri.clone()))?;
        Ok(DataObject {
            uri: self.uri,
            mime_type: self.mime_type,
            sha256,
        })
    }
}

fn set_algorithm(current: &mut Option<Partial>, e: &BytesStart<'_>) -> Result<(), ManifestError> {
    if let Some(p) = current.as_mut() {
        p.algorithm = attribute(e, "Algorithm")?;
    }
    Ok(())
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// The value of the attribute whose local name is `name`, unescaped.
fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ManifestError> {
    for a in e.attributes() {
        let a = a.map_err(|err| ManifestError::Xml(err.to_string()))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| ManifestError::Xml(err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn b64(data: &[u8]) -> String {
        STANDARD.encode(Sha256::digest(data))
    }

    /// As commons-asic writes it (the efm-asic README's example, digests of our own files).
    fn commons_asic(a: &str, b: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ASiCManifest xmlns="http://uri.etsi.org/2918/v1.1.1#" xmlns:ns2="http://www.w3.org/2000/09/xmldsig#">
    <SigReference URI="META-INF/signature.p7s" MimeType="application/x-pkcs7-signature"/>
    <DataObjectReference URI="soknad.json" MimeType="application/json">
        <ns2:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ns2:DigestValue>{a}</ns2:DigestValue>
    </DataObjectReference>
    <DataObjectReference URI="vedlegg &amp; bilag.pdf" MimeType="application/pdf">
        <ns2:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha256"/>
        <ns2:DigestValue>{b}</ns2:DigestValue>
    </DataObjectReference>
</ASiCManifest>"#
        )
    }

    #[test]
    fn every_data_file_with_its_type_and_sha256_whatever_the_prefixes() {
        let xml = commons_asic(&b64(b"{}"), &b64(b"%PDF-1.7"));
        let m = Manifest::parse(xml.as_bytes()).unwrap();
        assert_eq!(m.files.len(), 2);
        let json = &m.files["soknad.json"];
        assert_eq!(json.mime_type.as_deref(), Some("application/json"));
        assert_eq!(json.sha256.as_slice(), Sha256::digest(b"{}").as_slice());
        let pdf = &m.files["vedlegg & bilag.pdf"];
        assert_eq!(
            pdf.sha256.as_slice(),
            Sha256::digest(b"%PDF-1.7").as_slice()
        );
        // The same with other prefixes: names are read by their local part.
        let prefixed = xml
            .replace("<ASiCManifest xmlns=", "<asic:ASiCManifest xmlns:asic=")
            .replace("</ASiCManifest>", "</asic:ASiCManifest>")
            .replace("DataObjectReference", "asic:DataObjectReference")
            .replace("ns2:", "ds:")
            .replace("xmlns:ns2", "xmlns:ds");
        assert_eq!(Manifest::parse(prefixed.as_bytes()).unwrap(), m);
    }

    #[test]
    fn a_manifest_that_is_not_one_is_refused_with_the_reason() {
        let good = b64(b"x");
        let cases: Vec<(String, ManifestError)> = vec![
            (
                format!(
                    "<!DOCTYPE x [<!ENTITY e \"boom\">]>{}",
                    commons_asic(&good, &good)
                ),
                ManifestError::DocType,
            ),
            ("<html/>".into(), ManifestError::NotAManifest("html".into())),
            (
                commons_asic(&good, &good).replace("vedlegg &amp; bilag.pdf", "soknad.json"),
                ManifestError::Duplicate("soknad.json".into()),
            ),
            (
                commons_asic(&good, &good).replace(
                    "http://www.w3.org/2001/04/xmlenc#sha256",
                    "http://www.w3.org/2000/09/xmldsig#sha1",
                ),
                ManifestError::Algorithm {
                    uri: "soknad.json".into(),
                    algorithm: "http://www.w3.org/2000/09/xmldsig#sha1".into(),
                },
            ),
            (
                commons_asic("AAAA", &good),
                ManifestError::Digest("soknad.json".into()),
            ),
            (
                commons_asic(&good, &good).replace(r#" URI="soknad.json""#, ""),
                ManifestError::NoUri,
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(Manifest::parse(xml.as_bytes()), Err(want), "{xml}");
        }
        assert_eq!(
            Manifest::parse(&vec![b' '; MAX_MANIFEST_BYTES + 1]),
            Err(ManifestError::TooLarge(MAX_MANIFEST_BYTES + 1))
        );
        assert!(matches!(
            Manifest::parse(b"<ASiCManifest><DataObjectReference URI=\"a\">"),
            Err(ManifestError::Xml(_))
        ));
    }
}
