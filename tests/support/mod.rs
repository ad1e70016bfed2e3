//! Real local stand-ins used by the integration tests, the local demo and the benchmark:
//! moto (AWS) with a fault-injecting proxy in front, a faithful Terraform Cloud fake,
//! and a Lambda Runtime API emulator.
#![allow(dead_code)]

pub mod dice;
pub mod env;
pub mod fault_proxy;
pub mod moto;
pub mod runtime_api;
pub mod sqs;
pub mod tfc_fake;
