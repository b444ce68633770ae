//! OMA DM authentication math.
