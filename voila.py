# Voila reads this file from the folder it is started in: the nommu-lab
# template, which loads nothing from the network (see nommu_lab/offline.py).
from nommu_lab.offline import configure_voila

configure_voila(c)  # noqa: F821  (c is the config object Voila provides)
