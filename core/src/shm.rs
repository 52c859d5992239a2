//! Shared-memory queue pair (placeholder: being written).
