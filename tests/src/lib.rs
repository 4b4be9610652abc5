//! workspace tests
