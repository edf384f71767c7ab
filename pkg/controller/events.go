package controller

// ReportingController is the reportingController of carve-controller's
// Events (on Nodes and pods, from consolidation).
const ReportingController = "carve-controller"
