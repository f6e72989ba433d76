"""Personal data and what may leave the restricted warehouse.

The warehouse a run builds is restricted: its record keys can embed ID numbers and its
staged layer holds names, ID numbers and phones. Analysts read a separate analyst
database published beside it (`privacy.analyst`), built from the table catalog's
personal-data classes: columns dropped, record keys replaced by keyed pseudonyms
(`privacy.pseudonyms`). `privacy.scan` finds ID-number and phone shapes in text; the
analyst build refuses to publish a database where it finds any.
"""
