"""The typed contracts every layer may import: the step catalogue, the plan, the service spec, step
results, the seams (inference log, retrain trigger, deployed reference), file layouts and the
environment variables the code reads. Pure: pydantic, the standard library and config's models.

Declared once here; the compiler fills them, the runtime packages read them, and nothing in this
package imports torch, Lightning, BentoML, Airflow, DuckDB, pyarrow or the compiler.
"""
