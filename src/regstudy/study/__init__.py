"""`regstudy study`: tune every arm on validation, re-train the winners on fresh seeds, report."""
