#![doc = include_str!("../README.md")]

pub mod addressbook;
pub mod admin;
pub mod approver;
pub mod assets;
pub mod audit;
pub mod audit_follow;
pub mod audit_report;
pub mod backup;
pub mod ceremony;
pub mod cli;
pub mod dev;
pub mod employee;
pub mod error;
pub mod files;
pub mod flow_change;
pub mod flowfile;
pub mod genesis;
pub mod governance;
pub mod governance_cmd;
pub mod key;
pub mod keyholder;
pub use box_ops::keystore;
pub mod node_change;
pub mod node_cmd;
pub mod profile;
pub mod run;
pub mod session;
pub mod status;
pub mod transfers;
pub mod typed_data;
pub mod ui;

pub use error::{CliError, CliResult};
pub use profile::Profile;
pub use session::Session;
