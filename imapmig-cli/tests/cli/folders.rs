//! Tests of the `folders` part of the `imapmig` command.
