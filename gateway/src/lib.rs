//! The gateway as a library: everything the `guichet` binary runs (the HTTP
//! server, the demo, the log tool), so `main.rs` only parses the command
//! line, and the tests read the route tables from here.

pub mod backup_tool;
pub mod calendar;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod documents;
pub mod http;
pub mod mail;
pub mod mail_status;
mod metrics;
pub mod payments;
pub mod server;
pub mod spare_cpu;
pub mod token_tool;
pub mod wal_tool;
mod watchdog;
