//! Fuzzes the SvarInn list parser: whatever SvarInn answers, `parse_list_lenient`
//! returns (a page or an error) and never panics, and a page never holds more than
//! the 200 items the API promises, however many the body has.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mottak_protocol::svarinn::{MAX_PAGE, parse_list_lenient};

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_list_lenient(data) {
        assert!(page.items.len() <= MAX_PAGE, "{} items", page.items.len());
    }
});
