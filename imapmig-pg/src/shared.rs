//! Values every worker of a batch must agree on, made once: the first
//! worker's candidate wins, every later one reads it back.

use crate::{Database, Error};

/// The longest name of a shared value.
const MAX_NAME_LEN: usize = 64;

impl Database {
    /// The value stored under `name`, storing `candidate` first when there
    /// is none yet. Race-free: when several workers call this at once with
    /// different candidates, exactly one candidate is stored and every
    /// caller gets that one (`INSERT ... ON CONFLICT DO NOTHING`, then a
    /// read in the same transaction).
    ///
    /// `imapmig batch` keeps its fingerprint key here, so that every
    /// worker computes the same content fingerprints for a mailbox. The
    /// value is readable by whoever may read the database, like the folder
    /// states it goes with.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for an empty name, or one longer than 64
    /// bytes or holding control characters; [`Error::Database`].
    pub fn shared_value(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, Error> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "shared value name",
                name,
                "must be 1 to 64 bytes without control characters",
            ));
        }
        let (name, candidate) = (name.to_owned(), candidate.to_vec());
        self.connection().call(move |client, s| {
            let mut tx = client
                .transaction()
                .map_err(s.failed("shared value: begin"))?;
            tx.execute(
                "INSERT INTO imapmig_shared (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &candidate],
            )
            .map_err(s.failed("shared value: insert"))?;
            let value: Vec<u8> = tx
                .query_one("SELECT value FROM imapmig_shared WHERE name = $1", &[&name])
                .map_err(s.failed("shared value: read"))?
                .get(0);
            tx.commit().map_err(s.failed("shared value: commit"))?;
            Ok(value)
        })
    }
}
