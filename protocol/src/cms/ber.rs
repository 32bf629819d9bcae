//! A streaming BER/DER tag-length reader over any `Read`.
//!
//! It keeps one fixed buffer, counts the byte offset of everything it consumes (for
//! error messages), checks that children fit inside definite-length parents, bounds the
//! nesting depth, and can capture one element's bytes up to a limit so the small parts
//! of a CMS message can be handed to the `der`/`cms` decoders.

use std::io::{ErrorKind, Read};

use super::error::CmsError;

/// Deepest nesting accepted anywhere (CMS needs less than 15).
pub const MAX_DEPTH: usize = 32;

/// Size of the input buffer. Memory use of the reader does not depend on the input.
const BUFFER_SIZE: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Universal,
    Application,
    Context,
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
}

impl Tag {
    pub const fn universal(number: u32, constructed: bool) -> Self {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }

    pub const fn context(number: u32, constructed: bool) -> Self {
        Tag {
            class: Class::Context,
            constructed,
            number,
        }
    }

    /// Same class and number, either form (BER allows strings in both).
    pub fn same_type(&self, other: &Tag) -> bool {
        self.class == other.class && self.number == other.number
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let form = if self.constructed {
            "constructed"
        } else {
            "primitive"
        };
        match self.class {
            Class::Universal => {
                let name = match self.number {
                    0 => "end-of-contents",
                    1 => "BOOLEAN",
                    2 => "INTEGER",
                    3 => "BIT STRING",
                    4 => "OCTET STRING",
                    5 => "NULL",
                    6 => "OBJECT IDENTIFIER",
                    16 => "SEQUENCE",
                    17 => "SET",
                    _ => return write!(f, "universal {} ({form})", self.number),
                };
                write!(f, "{name} ({form})")
            }
            Class::Application => write!(f, "[APPLICATION {}] ({form})", self.number),
            Class::Context => write!(f, "[{}] ({form})", self.number),
            Class::Private => write!(f, "[PRIVATE {}] ({form})", self.number),
        }
    }
}

pub const SEQUENCE: Tag = Tag::universal(16, true);
pub const SET: Tag = Tag::universal(17, true);
pub const INTEGER: Tag = Tag::universal(2, false);
pub const OBJECT_IDENTIFIER: Tag = Tag::universal(6, false);
pub const OCTET_STRING: Tag = Tag::universal(4, false);

/// One tag-length header as read.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub tag: Tag,
    /// `None` for the indefinite form.
    pub length: Option<u64>,
    /// Offset of the tag's first byte.
    pub offset: u64,
    /// Offset of the first content byte.
    pub content_offset: u64,
}

impl Header {
    fn is_end_of_contents(&self) -> bool {
        self.tag == Tag::universal(0, false) && self.length == Some(0)
    }
}

/// An open constructed element: where its content ends (definite) or that it ends with
/// an end-of-contents marker (indefinite).
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    end: End,
    pub structure: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Definite length: the offset just past the content.
    At(u64),
    /// Indefinite length: an end-of-contents marker.
    Marker,
    /// The end of the input (the frame around the outermost element).
    Input,
}

impl Frame {
    /// The whole input, as the parent of the outermost element.
    pub const fn input() -> Self {
        Frame {
            end: End::Input,
            structure: "the input",
        }
    }
}

struct Capture {
    bytes: Vec<u8>,
    limit: usize,
    structure: &'static str,
}

pub struct BerReader<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    offset: u64,
    eof: bool,
    capture: Option<Capture>,
}

impl<R: Read> BerReader<R> {
    pub fn new(input: R) -> Self {
        BerReader {
            input,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            filled: 0,
            offset: 0,
            eof: false,
            capture: None,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn malformed(&self, structure: &'static str, reason: impl Into<String>) -> CmsError {
        CmsError::Malformed {
            offset: self.offset,
            structure,
            reason: reason.into(),
        }
    }

    /// The input ended: buffered bytes not yet consumed are all that is left of it.
    fn truncated(&self, structure: &'static str) -> CmsError {
        CmsError::Truncated {
            offset: self.offset + (self.filled - self.pos) as u64,
            structure,
        }
    }

    fn buffered(&self) -> &[u8] {
        self.buf.get(self.pos..self.filled).unwrap_or(&[])
    }

    /// One `read` call into the free space after `filled`; false at end of input.
    fn read_more(&mut self) -> Result<bool, CmsError> {
        if self.eof {
            return Ok(false);
        }
        loop {
            let Some(space) = self.buf.get_mut(self.filled..) else {
                return Ok(false);
            };
            if space.is_empty() {
                return Ok(false);
            }
            match self.input.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled = self.filled.saturating_add(n).min(self.buf.len());
                    return Ok(true);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(CmsError::ReadInput(err)),
            }
        }
    }

    /// Makes at least `wanted` bytes (≤ buffer size) available unless the input ends
    /// first; returns how many are available.
    fn fill_at_least(&mut self, wanted: usize) -> Result<usize, CmsError> {
        if self.filled - self.pos >= wanted {
            return Ok(self.filled - self.pos);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
        }
        while self.filled < wanted {
            if !self.read_more()? {
                break;
            }
        }
        Ok(self.filled - self.pos)
    }

    /// Moves past `n` buffered bytes, copying them into the capture if one is open.
    fn consume(&mut self, n: usize) -> Result<(), CmsError> {
        let n = n.min(self.filled - self.pos);
        if let Some(capture) = self.capture.as_mut() {
            let chunk = self.buf.get(self.pos..self.pos + n).unwrap_or(&[]);
            if capture.bytes.len() + chunk.len() > capture.limit {
                let (limit, structure) = (capture.limit, capture.structure);
                return Err(self.malformed(
                    structure,
                    format!("{structure} is larger than the {limit} bytes accepted"),
                ));
            }
            capture.bytes.extend_from_slice(chunk);
        }
        self.pos += n;
        self.offset += n as u64;
        Ok(())
    }

    pub fn read_byte(&mut self, structure: &'static str) -> Result<u8, CmsError> {
        if self.fill_at_least(1)? == 0 {
            return Err(self.truncated(structure));
        }
        let byte = self.buffered().first().copied().unwrap_or(0);
        self.consume(1)?;
        Ok(byte)
    }

    /// The next byte without consuming it; `None` at end of input.
    pub fn peek_byte(&mut self) -> Result<Option<u8>, CmsError> {
        if self.fill_at_least(1)? == 0 {
            return Ok(None);
        }
        Ok(self.buffered().first().copied())
    }

    /// True when the input has no more bytes.
    pub fn at_eof(&mut self) -> Result<bool, CmsError> {
        Ok(self.peek_byte()?.is_none())
    }

    /// Reads one tag and length.
    pub fn read_header(&mut self, structure: &'static str) -> Result<Header, CmsError> {
        let offset = self.offset;
        let first = self.read_byte(structure)?;
        let class = match first >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        };
        let constructed = first & 0x20 != 0;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            let mut digits = 0;
            loop {
                let byte = self.read_byte(structure)?;
                if digits == 0 && byte == 0x80 {
                    return Err(self.malformed(structure, "tag number with a leading zero digit"));
                }
                digits += 1;
                if digits > 4 {
                    return Err(self.malformed(structure, "tag number too large"));
                }
                number = (number << 7) | u32::from(byte & 0x7f);
                if byte & 0x80 == 0 {
                    break;
                }
            }
        }
        let length_byte = self.read_byte(structure)?;
        let length = match length_byte {
            0x00..=0x7f => Some(u64::from(length_byte)),
            0x80 if constructed => None,
            0x80 => {
                return Err(self.malformed(structure, "indefinite length on a primitive element"));
            }
            0xff => return Err(self.malformed(structure, "reserved length byte 0xFF")),
            _ => {
                let count = length_byte & 0x7f;
                if count > 8 {
                    return Err(self.malformed(
                        structure,
                        format!("length field of {count} bytes is too long"),
                    ));
                }
                let mut length: u64 = 0;
                for _ in 0..count {
                    length = (length << 8) | u64::from(self.read_byte(structure)?);
                }
                Some(length)
            }
        };
        let header = Header {
            tag: Tag {
                class,
                constructed,
                number,
            },
            length,
            offset,
            content_offset: self.offset,
        };
        if header.tag.class == Class::Universal
            && header.tag.number == 0
            && !header.is_end_of_contents()
        {
            return Err(self.malformed(structure, "malformed end-of-contents marker"));
        }
        if let Some(length) = length
            && self.offset.checked_add(length).is_none()
        {
            return Err(self.malformed(structure, "length overflows"));
        }
        Ok(header)
    }

    /// Opens a constructed element.
    pub fn enter(&self, header: &Header, structure: &'static str) -> Result<Frame, CmsError> {
        if !header.tag.constructed {
            return Err(self.malformed(
                structure,
                format!("expected a constructed element, found {}", header.tag),
            ));
        }
        let end = match header.length {
            // `read_header` refused lengths that overflow.
            Some(length) => End::At(header.content_offset.saturating_add(length)),
            None => End::Marker,
        };
        Ok(Frame { end, structure })
    }

    /// True when `frame` has no more children (without consuming its end marker).
    pub fn at_end(&mut self, frame: &Frame) -> Result<bool, CmsError> {
        match frame.end {
            End::At(end) if self.offset == end => Ok(true),
            End::At(end) if self.offset > end => Err(self.malformed(
                frame.structure,
                format!(
                    "content runs past the end of {} at byte {end}",
                    frame.structure
                ),
            )),
            End::At(_) => Ok(false),
            End::Input => self.at_eof(),
            End::Marker => {
                let available = self.fill_at_least(2)?;
                let next = self.buffered();
                match (next.first(), next.get(1)) {
                    (Some(0), Some(0)) => Ok(true),
                    _ if available >= 2 => Ok(false),
                    // One byte left: either a lone half of a marker or a header cut short.
                    _ => Err(self.truncated(frame.structure)),
                }
            }
        }
    }

    /// Closes `frame`: a definite frame must be used up exactly; an indefinite one must
    /// end with end-of-contents.
    pub fn finish(&mut self, frame: &Frame) -> Result<(), CmsError> {
        if !self.at_end(frame)? {
            return Err(self.malformed(
                frame.structure,
                format!("unexpected data before the end of {}", frame.structure),
            ));
        }
        if frame.end == End::Marker {
            self.consume(2)?;
        }
        Ok(())
    }

    /// Reads the header of the next child of `parent`, which must have one.
    pub fn expect_child(
        &mut self,
        parent: &Frame,
        structure: &'static str,
    ) -> Result<Header, CmsError> {
        if self.at_end(parent)? {
            if parent.end == End::Input {
                return Err(self.truncated(structure));
            }
            return Err(self.malformed(
                structure,
                format!("{structure} missing: {} ends here", parent.structure),
            ));
        }
        let header = self.read_header(structure)?;
        if header.is_end_of_contents() {
            return Err(self.malformed(structure, "unexpected end-of-contents marker"));
        }
        if let End::At(end) = parent.end {
            let child_end = header.length.map_or(Some(header.content_offset), |length| {
                header.content_offset.checked_add(length)
            });
            if child_end.is_none_or(|child_end| child_end > end) {
                return Err(self.malformed(
                    structure,
                    format!(
                        "{structure} runs past the end of {} at byte {end}",
                        parent.structure
                    ),
                ));
            }
        }
        Ok(header)
    }

    /// Reads a primitive element's whole value, refusing more than `max` bytes.
    pub fn read_primitive(
        &mut self,
        header: &Header,
        max: usize,
        structure: &'static str,
    ) -> Result<Vec<u8>, CmsError> {
        let length = match header.length {
            Some(length) if !header.tag.constructed => length,
            _ => {
                return Err(self.malformed(
                    structure,
                    format!("expected a primitive {structure}, found {}", header.tag),
                ));
            }
        };
        if length > max as u64 {
            return Err(self.malformed(
                structure,
                format!("{structure} of {length} bytes is longer than the {max} accepted"),
            ));
        }
        // `length <= max`, a usize.
        let mut value = Vec::with_capacity(usize::try_from(length).unwrap_or(max));
        self.stream(length, structure, |chunk| {
            value.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(value)
    }

    /// Passes the next `length` bytes to `sink` straight from the buffer.
    pub fn stream(
        &mut self,
        length: u64,
        structure: &'static str,
        mut sink: impl FnMut(&[u8]) -> Result<(), CmsError>,
    ) -> Result<(), CmsError> {
        let mut remaining = length;
        while remaining > 0 {
            if self.pos == self.filled {
                self.pos = 0;
                self.filled = 0;
                if !self.read_more()? {
                    return Err(self.truncated(structure));
                }
            }
            let available = self.filled - self.pos;
            let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
            if let Some(chunk) = self.buf.get(self.pos..self.pos + take) {
                sink(chunk)?;
            }
            self.consume(take)?;
            remaining -= take as u64;
        }
        Ok(())
    }

    /// Skips the value of an element whose header was just read, walking indefinite
    /// forms down to `MAX_DEPTH`.
    pub fn skip_value(
        &mut self,
        header: &Header,
        depth: usize,
        structure: &'static str,
    ) -> Result<(), CmsError> {
        if depth > MAX_DEPTH {
            return Err(self.malformed(structure, format!("nested deeper than {MAX_DEPTH}")));
        }
        match header.length {
            Some(length) => self.stream(length, structure, |_| Ok(())),
            None => {
                let frame = self.enter(header, structure)?;
                while !self.at_end(&frame)? {
                    let child = self.expect_child(&frame, structure)?;
                    self.skip_value(&child, depth + 1, structure)?;
                }
                self.finish(&frame)
            }
        }
    }

    /// Reads the next child of `parent` whole, header included, refusing more than
    /// `limit` bytes.
    pub fn capture_element(
        &mut self,
        parent: &Frame,
        limit: usize,
        structure: &'static str,
    ) -> Result<(Header, Vec<u8>), CmsError> {
        self.capture = Some(Capture {
            bytes: Vec::new(),
            limit,
            structure,
        });
        let walked = match self.expect_child(parent, structure) {
            Ok(header) => self.skip_value(&header, 0, structure).map(|()| header),
            Err(err) => Err(err),
        };
        let captured = self.capture.take().map(|c| c.bytes).unwrap_or_default();
        Ok((walked?, captured))
    }
}

/// Splits a captured constructed element (header included) into its children's bytes.
pub fn children<'a>(element: &'a [u8], structure: &'static str) -> Result<Vec<&'a [u8]>, CmsError> {
    let mut reader = BerReader::new(element);
    let header = reader.expect_child(&Frame::input(), structure)?;
    let frame = reader.enter(&header, structure)?;
    let mut children = Vec::new();
    while !reader.at_end(&frame)? {
        let start = reader.offset();
        let child = reader.expect_child(&frame, structure)?;
        reader.skip_value(&child, 1, structure)?;
        let end = reader.offset();
        let bytes = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| element.get(start..end))
            .ok_or_else(|| reader.malformed(structure, "child outside its parent"))?;
        children.push(bytes);
    }
    reader.finish(&frame)?;
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> Result<Header, CmsError> {
        BerReader::new(bytes).read_header("test")
    }

    #[test]
    fn reads_short_long_and_indefinite_lengths() {
        let h = header(&[0x30, 0x03]).unwrap();
        assert_eq!(h.tag, SEQUENCE);
        assert_eq!(h.length, Some(3));
        let h = header(&[0x04, 0x82, 0x01, 0x00]).unwrap();
        assert_eq!(h.tag, OCTET_STRING);
        assert_eq!(h.length, Some(256));
        assert_eq!(h.content_offset, 4);
        let h = header(&[0xa0, 0x80]).unwrap();
        assert_eq!(h.tag, Tag::context(0, true));
        assert_eq!(h.length, None);
    }

    #[test]
    fn reads_high_tag_numbers() {
        let h = header(&[0x9f, 0x81, 0x00, 0x00]).unwrap();
        assert_eq!(h.tag, Tag::context(128, false));
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            header(&[0x04, 0x80]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x30, 0xff]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x30, 0x89]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x9f, 0x80, 0x01, 0x00]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x9f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x00, 0x01]),
            Err(CmsError::Malformed { .. })
        ));
        assert!(matches!(
            header(&[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CmsError::Malformed { .. })
        ));
    }

    #[test]
    fn truncated_header_names_offset() {
        match header(&[0x30, 0x82, 0x01]) {
            Err(CmsError::Truncated { offset, .. }) => assert_eq!(offset, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn child_overrunning_definite_parent_is_malformed() {
        // SEQUENCE of 3 bytes holding an OCTET STRING claiming 5.
        let bytes = [0x30, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00];
        let mut reader = BerReader::new(&bytes[..]);
        let seq = reader.expect_child(&Frame::input(), "seq").unwrap();
        let frame = reader.enter(&seq, "seq").unwrap();
        assert!(matches!(
            reader.expect_child(&frame, "child"),
            Err(CmsError::Malformed { .. })
        ));
    }

    #[test]
    fn skips_nested_indefinite_and_captures() {
        // SEQUENCE(indef){ [0](indef){ OCTET STRING "ab" } EOC } EOC, then a trailing 0x05.
        let bytes = [
            0x30, 0x80, 0xa0, 0x80, 0x04, 0x02, b'a', b'b', 0x00, 0x00, 0x00, 0x00, 0x05,
        ];
        let mut reader = BerReader::new(&bytes[..]);
        let (h, captured) = reader
            .capture_element(&Frame::input(), 64, "element")
            .unwrap();
        assert_eq!(h.tag, SEQUENCE);
        assert_eq!(captured, &bytes[..12]);
        assert_eq!(reader.offset(), 12);
        assert_eq!(children(&captured, "element").unwrap(), vec![&bytes[2..10]]);
    }

    #[test]
    fn capture_limit_is_enforced() {
        let mut bytes = vec![0x04, 0x82, 0x01, 0x00];
        bytes.extend([0u8; 256]);
        let mut reader = BerReader::new(&bytes[..]);
        assert!(matches!(
            reader.capture_element(&Frame::input(), 100, "element"),
            Err(CmsError::Malformed { .. })
        ));
    }

    #[test]
    fn depth_is_bounded() {
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend([0x30, 0x80]);
        }
        for _ in 0..100 {
            bytes.extend([0x00, 0x00]);
        }
        let mut reader = BerReader::new(&bytes[..]);
        let err = reader
            .capture_element(&Frame::input(), 1 << 20, "deep")
            .unwrap_err();
        assert!(err.to_string().contains("deeper"), "{err}");
    }

    #[test]
    fn missing_end_of_contents_is_truncation() {
        let bytes = [0x30, 0x80, 0x04, 0x01, 0x00];
        let mut reader = BerReader::new(&bytes[..]);
        assert!(matches!(
            reader.capture_element(&Frame::input(), 64, "element"),
            Err(CmsError::Truncated { offset: 5, .. })
        ));
    }
}
