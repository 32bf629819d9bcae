//! The SvarInn mottaksservice model: the forsendelse JSON and the mottakFeilet body.
