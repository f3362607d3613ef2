"""Vertical workflows built only from the other packages (nothing but the CLI imports `recipes`).

Each recipe is a subpackage (`finance/`, `medical/`, `characters/`): a config dataclass holding
every option's default once, one module per stage, and `templates/report.html.j2`. Each recipe
(`genforge recipe NAME`) prints progress, leaves a normal Run behind, and writes one report
with a verdict through `recipes.report.write_recipe_report`.
"""
