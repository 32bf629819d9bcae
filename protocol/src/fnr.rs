//! Fødselsnumre: found by their control digits, masked wherever text leaves
//! the agent for a console or a log. This is Mottak's one masking rule: the
//! console state ([`crate::console::Text`], [`crate::console::ExternalId`]),
//! command results, and every log line (the agent's `logging`) all use it.
//!
//! What is masked: 11 ASCII digits, written together (`01019012480`) or as
//! 6 + 5 with one space or hyphen between (`010190 12480`, `010190-12480`),
//! not part of a longer run of digits, that
//! - pass both control digits. The standard (Skatteetaten, "fødselsnummer",
//!   and its notice "Nye fødselsnummer og d-nummer fra 2032"): the weighted
//!   sum of the first ten digits with weights 3 7 6 1 8 9 4 5 2 1 (K1 the
//!   last) and of all eleven with 5 4 3 2 7 6 5 4 3 2 1 (K2 the last) are
//!   each 0 modulo 11 (a number whose control digit would be 10 is never
//!   issued). From 2032 K1's sum may also leave 1, 2 or 3; K2 is unchanged.
//!   Both rules are accepted, so numbers issued after 2032 are masked too;
//! - and have a date where the standard puts one: day 01–31, or 41–71 for a
//!   D-nummer (first digit + 4); month 01–12, or 41–52 for an H-nummer
//!   (helsesektorens hjelpenummer, month + 40, also NAV's synthetic test
//!   numbers) or 81–92 for Skatteetaten's synthetic test numbers (Tenor,
//!   month + 80). An FH-nummer (felles hjelpenummer, first digit 8 or 9) has
//!   no date and is masked on its control digits alone.
//!
//! What is not: a number inside an id a person must be able to read. In a
//! UUID (8-4-4-4-12 hex digits, `…-a01019012480`) or a hash (a word of 32
//! or more hex digits with a letter among them) the digits belong to the
//! id, never to a person; these are left as they are. Anything else around
//! the digits (`fnr01019012480`, `bad01019012480`, a short hex word) makes
//! it text, and it is masked. A number that fails its control digits is
//! left: most 11-digit runs in ids do (about 1 in 500 random runs passes
//! both control digits and the date).
//!
//! The whole number is masked (`***********`, the separator of the printed
//! form kept), not only the personal digits: the birth date is personal
//! data too, and in a small kommune a date and a case narrow a person down.

use std::borrow::Cow;
use std::ops::Range;

/// What a fødselsnummer written together becomes.
pub const MASK: &str = "***********";

const K1_WEIGHTS: [u32; 10] = [3, 7, 6, 1, 8, 9, 4, 5, 2, 1];
const K2_WEIGHTS: [u32; 11] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2, 1];

/// Whether 11 ASCII digits are a fødselsnummer, D-, H-, FH- or synthetic
/// number (see the module doc). Anything but 11 ASCII digits is not.
pub fn is_fnr(digits: &[u8]) -> bool {
    if digits.len() != 11 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u32> = digits.iter().map(|b| u32::from(b - b'0')).collect();
    let sum = |weights: &[u32]| -> u32 { weights.iter().zip(&d).map(|(w, x)| w * x).sum() };
    // K1: 0 is the rule until 2032, 1-3 are added from 2032.
    if sum(&K1_WEIGHTS) % 11 > 3 || sum(&K2_WEIGHTS) % 11 != 0 {
        return false;
    }
    if d[0] >= 8 {
        return true; // FH-nummer: no date.
    }
    let day = d[0] * 10 + d[1];
    let month = d[2] * 10 + d[3];
    let day_ok = (1..=31).contains(&day) || (41..=71).contains(&day);
    let month_ok =
        (1..=12).contains(&month) || (41..=52).contains(&month) || (81..=92).contains(&month);
    day_ok && month_ok
}

/// The control digits K1 and K2 (today's rule) for the first nine digits,
/// or `None` when the standard never issues that number (a control digit of
/// 10). For tests and examples that need a number that is masked.
pub fn control_digits(first_nine: &[u8; 9]) -> Option<[u8; 2]> {
    let digit = |weights: &[u32], ds: &[u8]| -> Option<u8> {
        let s: u32 = weights
            .iter()
            .zip(ds)
            .map(|(w, x)| w * u32::from(x - b'0'))
            .sum();
        match (11 - s % 11) % 11 {
            10 => None,
            k => u8::try_from(k).ok(),
        }
    };
    let k1 = digit(&K1_WEIGHTS[..9], first_nine)?;
    let mut ten = [0u8; 10];
    ten[..9].copy_from_slice(first_nine);
    ten[9] = b'0' + k1;
    let k2 = digit(&K2_WEIGHTS[..10], &ten)?;
    Some([b'0' + k1, b'0' + k2])
}

/// The byte ranges (digits only) of every fødselsnummer in `b`, in order:
/// one range for a number written together, two for the printed form.
pub fn spans(b: &[u8]) -> Vec<Range<usize>> {
    let n = b.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && b[i].is_ascii_digit() {
            i += 1;
        }
        let run = i - start;
        if run == 11 {
            if is_fnr(&b[start..i]) && !in_hex_id(b, start, i) {
                out.push(start..i);
            }
        } else if run == 6
            && i + 6 <= n
            && matches!(b[i], b' ' | b'-')
            && b[i + 1..i + 6].iter().all(u8::is_ascii_digit)
            && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit())
        {
            let mut digits = [0u8; 11];
            digits[..6].copy_from_slice(&b[start..i]);
            digits[6..].copy_from_slice(&b[i + 1..i + 6]);
            if is_fnr(&digits) && !in_hex_id(b, start, i + 6) {
                out.push(start..i);
                out.push(i + 1..i + 6);
                i += 6;
            }
        }
    }
    out
}

/// Whether `b[start..end]` lies inside an id a person must be able to
/// read rather than in text: a hash (a word of at least [`MIN_HASH_LEN`]
/// hex digits with a letter among them) or a UUID (8-4-4-4-12 hex digits).
/// A shorter word of hex letters and digits (`bad01019012480`) is text.
fn in_hex_id(b: &[u8], start: usize, end: usize) -> bool {
    let around = |keep: fn(&u8) -> bool| {
        let from = start - b[..start].iter().rev().take_while(|c| keep(c)).count();
        let to = end + b[end..].iter().take_while(|c| keep(c)).count();
        from..to
    };
    let word = around(u8::is_ascii_alphanumeric);
    let w = &b[word.clone()];
    if w.len() >= MIN_HASH_LEN
        && w.iter().all(u8::is_ascii_hexdigit)
        && w.iter().any(u8::is_ascii_alphabetic)
    {
        return true;
    }
    let run = around(|c| c.is_ascii_hexdigit() || *c == b'-');
    let first = run.start.max(end.saturating_sub(UUID_LEN));
    (first..=start.min(run.end.saturating_sub(UUID_LEN))).any(|at| {
        at + UUID_LEN >= end && at + UUID_LEN <= run.end && is_uuid(&b[at..at + UUID_LEN])
    })
}

/// The shortest hex word taken for a hash (MD5's 32; SHA-1 40, SHA-256 64).
pub const MIN_HASH_LEN: usize = 32;
const UUID_LEN: usize = 36;

fn is_uuid(b: &[u8]) -> bool {
    b.len() == UUID_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` holds a fødselsnummer.
pub fn contains(s: &str) -> bool {
    !spans(s.as_bytes()).is_empty()
}

/// Masks, in place, every fødselsnummer in `b` with `*` (see the module
/// doc). Only ASCII digits are replaced, so UTF-8 stays UTF-8.
pub fn mask_in_place(b: &mut [u8]) {
    for r in spans(b) {
        b[r].fill(b'*');
    }
}

/// `s` with every fødselsnummer masked; borrowed when there is none.
pub fn mask(s: &str) -> Cow<'_, str> {
    let found = spans(s.as_bytes());
    if found.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for r in found {
        out.push_str(&s[at..r.start]);
        out.extend(std::iter::repeat_n('*', r.len()));
        at = r.end;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid number from a date and an individual number (today's rule).
    fn fnr(day: u8, month: u8, year: u8, individ: u16) -> Option<String> {
        let nine = format!("{day:02}{month:02}{year:02}{individ:03}");
        let nine: [u8; 9] = nine.as_bytes().try_into().ok()?;
        let k = control_digits(&nine)?;
        Some(format!(
            "{}{}",
            std::str::from_utf8(&nine).ok()?,
            std::str::from_utf8(&k).ok()?
        ))
    }

    #[test]
    fn the_control_digits_decide() {
        // Skatteetaten's worked example (fnrinfo.no): 311299567 + 15.
        assert_eq!(control_digits(b"311299567"), Some(*b"15"));
        assert!(is_fnr(b"31129956715"));
        for bad in ["31129956716", "31129956705", "01019012345", "31129912345"] {
            assert!(!is_fnr(bad.as_bytes()), "{bad}");
        }
        let n = fnr(1, 1, 90, 124).unwrap();
        assert_eq!(n, "01019012480");
        assert!(is_fnr(n.as_bytes()));
        // D-nummer (day + 40), H-nummer (month + 40), Tenor (month + 80), FH.
        for (d, m) in [(41, 1), (71, 12), (1, 41), (31, 52), (15, 81), (15, 92)] {
            let n = (0..1000).find_map(|i| fnr(d, m, 85, i)).unwrap();
            assert!(is_fnr(n.as_bytes()), "{n}");
        }
        let fh = (0..1000)
            .find_map(|i| {
                let nine = format!("812345{i:03}");
                let k = control_digits(nine.as_bytes().try_into().ok()?)?;
                Some(format!("{nine}{}", std::str::from_utf8(&k).ok()?))
            })
            .unwrap();
        assert!(is_fnr(fh.as_bytes()), "{fh}");
        // No such date.
        for (d, m) in [(0, 1), (32, 1), (1, 0), (1, 13), (1, 40), (72, 1), (1, 53)] {
            let n = (0..1000).find_map(|i| fnr(d, m, 85, i)).unwrap();
            assert!(!is_fnr(n.as_bytes()), "{n}");
        }
        // The 2032 rule: K1's weighted sum may leave 0 to 3, not 4.
        for (remainder, accepted) in [(0, true), (1, true), (2, true), (3, true), (4, false)] {
            let n = (0..1000)
                .find_map(|i| with_k1_remainder(&format!("150132{i:03}"), remainder))
                .unwrap();
            assert_eq!(is_fnr(n.as_bytes()), accepted, "{n}");
        }
    }

    /// Nine digits completed so that K1's weighted sum leaves `remainder`
    /// and K2 is right, when such digits exist.
    fn with_k1_remainder(nine: &str, remainder: u32) -> Option<String> {
        let weighted = |weights: &[u32], ds: &str| -> u32 {
            weights
                .iter()
                .zip(ds.bytes())
                .map(|(w, x)| w * u32::from(x - b'0'))
                .sum()
        };
        let k1 = (remainder + 11 - weighted(&K1_WEIGHTS[..9], nine) % 11) % 11;
        let ten = format!("{nine}{}", char::from_digit(k1, 10)?);
        let k2 = (11 - weighted(&K2_WEIGHTS[..10], &ten) % 11) % 11;
        Some(format!("{ten}{}", char::from_digit(k2, 10)?))
    }

    #[test]
    fn masks_numbers_not_ids() {
        let n = "01019012480";
        assert_eq!(mask(&format!("fnr {n} ok")), "fnr *********** ok");
        assert_eq!(mask(n), MASK);
        assert_eq!(mask("010190 12480."), "****** *****.");
        assert_eq!(mask("(010190-12480)"), "(******-*****)");
        assert_eq!(mask(&format!("fnr{n}")), "fnr***********");
        assert_eq!(
            mask(&format!("ut.1700000000000.0.{n}")),
            "ut.1700000000000.0.***********"
        );
        assert_eq!(
            mask(&format!("{n}-20231114T221320.000Z")),
            "***********-20231114T221320.000Z"
        );
        assert_eq!(
            mask(&format!("søknad æøå {n} å")),
            "søknad æøå *********** å"
        );
        // Glued to letters, even hex ones, outside a UUID or a hash: text.
        for text in [format!("a{n}b"), format!("bad{n}"), format!("deadbeef{n}")] {
            assert!(!mask(&text).contains(n), "{text}");
        }
        // Inside UUIDs and hashes, longer runs, failed control digits: kept.
        for keep in [
            format!("{}{n}", "deadbeef".repeat(4)),
            format!("sha256:{}{n}{}", "ab".repeat(13), "cd".repeat(14)),
            format!("0b3f5c2e-9b7e-4c1a-8d2f-a{n}"),
            format!("ut.1.0.0b3f5c2e-9b7e-4c1a-8d2f-{n}f"),
            format!("{n}0"),
            "01019012345".to_owned(),
            "010190 124800".to_owned(),
            "1700000000000".to_owned(),
            "orgnr 974760673".to_owned(),
            "2026-11-21T08:00:00Z".to_owned(),
        ] {
            assert_eq!(mask(&keep), keep);
            assert!(matches!(mask(&keep), Cow::Borrowed(_)));
        }
        let mut b = format!("x {n} y").into_bytes();
        mask_in_place(&mut b);
        assert_eq!(b, b"x *********** y");
        assert!(contains(&format!("<{n}>")) && !contains("nothing"));
    }

    /// Any valid number: date (with D-, H- and Tenor offsets) and individual number.
    fn any_fnr() -> impl Strategy<Value = String> {
        (1u8..=28, 1u8..=12, 0u8..=99, 0u16..=999, 0u8..3, 0u8..2).prop_filter_map(
            "control digit 10: never issued",
            |(day, month, year, individ, month_kind, d_number)| {
                let month = month + [0, 40, 80][usize::from(month_kind)];
                let day = day + 40 * d_number;
                fnr(day, month, year, individ)
            },
        )
    }

    /// Text that cannot extend the number: anything, then a character that
    /// is neither an ASCII letter nor a digit (or nothing at all).
    fn surrounding() -> impl Strategy<Value = (String, String)> {
        let edge = prop_oneof![
            Just(String::new()),
            "[ \\-.,:;/()_=\"'\n\t\u{0}æøåÆØÅ€\u{2028}]".prop_map(|s| s),
        ];
        (any::<String>(), edge.clone(), edge, any::<String>()).prop_map(|(a, l, r, z)| {
            let prefix = if l.is_empty() {
                String::new()
            } else {
                format!("{a}{l}")
            };
            let suffix = if r.is_empty() {
                String::new()
            } else {
                format!("{r}{z}")
            };
            (prefix, suffix)
        })
    }

    /// The rule written out again, independently of [`is_fnr`]: both
    /// control digits (K1 by today's rule or the 2032 one) and a date.
    fn oracle(d: &[u32]) -> bool {
        let w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
        let w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
        let s1: u32 = w1.iter().zip(d).map(|(w, x)| w * x).sum();
        // s1 + K1 leaves 0 modulo 11 (today), or 1, 2 or 3 (from 2032).
        let k1_ok = (0..4).any(|r| (r + 11 - s1 % 11) % 11 == d[9]);
        let s2: u32 = w2.iter().zip(d).map(|(w, x)| w * x).sum();
        let k2_ok = (11 - s2 % 11) % 11 == d[10];
        let (day, month) = (d[0] * 10 + d[1], d[2] * 10 + d[3]);
        let dated = d[0] >= 8
            || (matches!(day, 1..=31 | 41..=71) && matches!(month, 1..=12 | 41..=52 | 81..=92));
        k1_ok && k2_ok && dated
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        #[test]
        fn any_eleven_digits_are_masked_exactly_when_the_rule_says(
            digits in proptest::collection::vec(0u32..10, 11),
            form in 0u8..3,
        ) {
            let n: String = digits.iter().map(|d| char::from(b'0' + u8::try_from(*d).unwrap())).collect();
            let written = match form {
                0 => n.clone(),
                1 => format!("{} {}", &n[..6], &n[6..]),
                _ => format!("{}-{}", &n[..6], &n[6..]),
            };
            let text = format!("id {written}.");
            let masked = mask(&text);
            prop_assert_eq!(masked != text, oracle(&digits), "{}", text);
            prop_assert_eq!(is_fnr(n.as_bytes()), oracle(&digits));
        }

        #[test]
        fn every_valid_number_is_masked_in_any_text(
            n in any_fnr(),
            (prefix, suffix) in surrounding(),
            form in 0u8..3,
        ) {
            let written = match form {
                0 => n.clone(),
                1 => format!("{} {}", &n[..6], &n[6..]),
                _ => format!("{}-{}", &n[..6], &n[6..]),
            };
            let text = format!("{prefix}{written}{suffix}");
            let masked = mask(&text);
            prop_assert!(!masked.contains(&written), "{text:?} -> {masked:?}");
            prop_assert!(!masked.contains(&n), "{text:?} -> {masked:?}");
            prop_assert_eq!(masked.len(), text.len());
            let mut bytes = text.clone().into_bytes();
            mask_in_place(&mut bytes);
            prop_assert_eq!(String::from_utf8(bytes).unwrap(), masked.into_owned());
        }

        #[test]
        fn a_number_glued_to_words_is_masked(n in any_fnr(), word in "[g-zG-Z][a-zA-Z]{0,6}") {
            let text = format!("{word}{n} og {n}{word}");
            prop_assert!(!mask(&text).contains(&n), "{}", text);
        }

        #[test]
        fn uuids_and_sha256_hex_are_never_changed(bytes in any::<[u8; 32]>(), upper in any::<bool>(), pad in "[ =/:]{0,2}") {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let hex = if upper { hex.to_uppercase() } else { hex };
            let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
            for id in [hex.clone(), uuid.clone(), format!("ut.1700000000000.3.{uuid}"), format!("{pad}{uuid}{pad}{hex}")] {
                prop_assert!(matches!(mask(&id), Cow::Borrowed(_)), "{} -> {}", id, mask(&id));
            }
        }

        #[test]
        fn uuids_made_of_digits_are_never_changed(groups in "[0-9]{8}-[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{12}") {
            prop_assert!(matches!(mask(&groups), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn uuids_with_eleven_digit_groups_are_never_changed() {
        // Every way an 11-digit valid number can sit in a UUID's last group.
        let n = "01019012480";
        for uuid in [
            format!("0b3f5c2e-9b7e-4c1a-8d2f-{n}a"),
            format!("0b3f5c2e-9b7e-4c1a-8d2f-f{n}"),
            "ab010190-1248-4c1a-8d2f-0123456789ab".to_owned(),
        ] {
            assert_eq!(mask(&uuid), uuid);
        }
    }
}
