//! The XOP runtime. The IR and engines arrive with the compiled-module work (issue 3/6).
