"""Online review desk (在线联审): markups, comments and comment templates, as the viewer and the API use them.

- :mod:`app.review_desk.access`: who reads and who writes which track of a sheet revision;
- :mod:`app.review_desk.markups`: markups drawn on a sheet revision, with optimistic concurrency;
- :mod:`app.review_desk.comments`: review comments (审查意见), their thread and their issue to the designer;
- :mod:`app.review_desk.templates`: each reviewer's library of frequent comments (常用意见库);
- :mod:`app.review_desk.events`: changes of a revision's markups and comments, read from the database for live views.

Every function takes an open session and the acting principal; the caller commits.
"""
