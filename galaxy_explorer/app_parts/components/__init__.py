"""What the app shows: thin Panel/Bokeh components that watch the controllers' outputs and redraw their own panes
(``cards``, ``views``, ``population_card``, ``physical``, ``units``, ``display``, ``player``) and the panels with
controls of their own (``conditions_panel``, ``export_panel``, ``inversion_panel``, and ``colour_card``, the colour
diagrams in HoloViews, whose selections go to the survey grid).
"""
