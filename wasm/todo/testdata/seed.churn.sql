INSERT INTO "churn" VALUES(1,'8f9a09b4bfc845f03de9f8edebb3555d31d4e66d0b33aa7e93e47274431eff4a','1',1700000007000);
INSERT INTO "todo" VALUES(1,'1','cook',0);
INSERT INTO "todo" VALUES(2,'2','clean',0);
INSERT INTO "todo" VALUES(3,'3','write (a)',1);
