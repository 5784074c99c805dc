//! imapmig-dns (being built).

mod error;
mod name;
mod resolver;
pub mod spf;
pub mod zone;

pub use error::Error;
pub use name::{DomainName, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use resolver::{Lookup, Outcome, RData, Record, RecordType, Resolver};
pub use zone::ZoneResolver;
