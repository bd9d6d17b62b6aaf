//! State resolution v1 tests, error cases, and the fork-order property test.
