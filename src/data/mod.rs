//! Data sets. For now the 2-D toy distributions with exact densities.

pub mod toy;
