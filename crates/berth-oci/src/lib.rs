//! Pure OCI types: digests, repository names, references, media types, manifest parsing
//! and validation, and the HTTP range grammar the distribution API uses. No I/O, so every
//! parser here can be fuzzed directly.

pub mod digest;
pub mod manifest;
pub mod media;
pub mod name;
pub mod range;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{Descriptor, ManifestError, ParsedManifest};
pub use name::{NameError, Reference, RepoName, Tag};
