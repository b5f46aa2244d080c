package sbom

// GenerateBOM is generateBOM for the end-to-end tests of package sbom_test.
var GenerateBOM = generateBOM
