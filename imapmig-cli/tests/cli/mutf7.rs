//! Tests of the `mutf7` part of the `imapmig` command.
