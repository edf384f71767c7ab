package podcontract

// AdmittedAs is admittedAs, for FuzzAdmit.
var AdmittedAs = admittedAs
