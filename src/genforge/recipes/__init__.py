"""Vertical workflows built only from the other packages (nothing imports `recipes`).

Each recipe (`genforge recipe NAME`) prints progress, leaves a normal Run behind, and writes one
report with a verdict through `recipes.report.write_recipe_report`.
"""
