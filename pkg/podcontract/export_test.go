package podcontract

// AdmittedAs is admittedAs, for FuzzAdmit.
var AdmittedAs = admittedAs

// AppliedJSON is Applied.appendJSON, for TestAppliedJSON.
func AppliedJSON(a *Applied) []byte { return a.appendJSON(nil) }
