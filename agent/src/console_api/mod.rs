//! The console API: what consoles see of the agent and what they may do.
//!
//! Module map:
//! - `accounts`: local accounts from `/etc/passwd` and `/etc/group` (peer uid → login name, groups).
//! - `access`: who may do what, pure: applicable grants, roles per mottakersystem, command
//!   checks, who can act on failed imports.
//!
//! The access list and the audit log live in the journal (`journal::access`).

pub mod access;
pub mod accounts;
