package engine

// SetListBudgets sets the records a ListTasks page examines at most,
// without and with a search, so that tests reach partial pages with small
// states; it returns the function that restores them.
func SetListBudgets(scan, search int) (restore func()) {
	s, q := listScanBudget, listSearchBudget
	listScanBudget, listSearchBudget = scan, search
	return func() { listScanBudget, listSearchBudget = s, q }
}

// ListBudgets returns the records a ListTasks page examines at most,
// without and with a search.
func ListBudgets() (scan, search int) { return listScanBudget, listSearchBudget }
