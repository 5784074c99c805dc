//! The IMAP connection at the edge: URL, TLS, authentication, and the commands a migration sends.
