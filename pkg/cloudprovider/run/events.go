package run

// ReportingController is the reportingController of the Events the provider
// records (on NodePools, for refused requests).
const ReportingController = "carve-cloudprovider"
