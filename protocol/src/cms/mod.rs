//! Streaming CMS EnvelopedData (RFC 5652): reader and writer over std `Read`/`Write`.
