"""Running a benchmark: the search loop (runner), the run manifest, the results file and the report."""
