//! Tests of the `dedupe` part of the `imapmig` command.
