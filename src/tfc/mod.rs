//! Terraform Cloud: the HTTP client (auth, JSON:API, retries, rate limit) and the variable
//! set operations built on it.

pub mod client;
pub mod organization;
pub mod varsets;

pub use client::TfcClient;
