INSERT INTO "todo" VALUES(1,'2','clean',0);
INSERT INTO "todo" VALUES(2,'1','cook',1);
INSERT INTO "todo" VALUES(3,'3','write (a)',1);
