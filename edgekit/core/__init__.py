"""Pure-Python core: records, counting formulas, memory planner, specs. No ML framework here."""
