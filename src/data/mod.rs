//! Data sets: the 2-D toy distributions with exact densities, and image
//! data sets from IDX, CIFAR-10 binary and image folders.

pub mod images;
pub mod toy;
