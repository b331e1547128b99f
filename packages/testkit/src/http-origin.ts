// Filled by its owner; see the README of packages/testkit.
export {}
