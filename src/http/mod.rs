//! The daemon's hyper listeners: the public webhook listener and the loopback admin API.
