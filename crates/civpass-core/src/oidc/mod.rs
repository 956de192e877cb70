//! The OpenID provider: relying parties and their authentication, authorization requests
//! (pushed and signed), login requests, DPoP, codes and tokens, UserInfo, dynamic registration,
//! and logout.

pub mod clients;
pub mod dpop;
pub mod login;
pub mod login_context;
pub mod logout;
pub mod model;
pub mod par;
pub mod registration;
pub mod store;
pub mod token;
